"""What probing a media file tells us, before anything is decoded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MediaInfo(BaseModel):
    """Facts about one media file. Sizes are of the displayed frame (rotation and pixel aspect
    ratio applied); ``stored_width``/``stored_height`` are what the codec holds."""

    model_config = ConfigDict(frozen=True)

    path: str
    file_size_bytes: int
    sha256: str
    container: str
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    stored_width: int = 0
    stored_height: int = 0
    rotation_deg: int = 0
    video_codec: str | None = None
    avg_fps: float | None = None
    is_variable_frame_rate: bool = False
    audio_codec: str | None = None
    audio_sample_rate_hz: int | None = None
    audio_channels: int | None = None

    @property
    def is_portrait(self) -> bool:
        return self.height > self.width
