"""Getting videos in: the yt-dlp downloader with its rate limit and retries, and bulk runs."""
