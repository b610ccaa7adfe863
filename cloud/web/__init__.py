"""Server-rendered pages: templates, static files and the translation function."""
