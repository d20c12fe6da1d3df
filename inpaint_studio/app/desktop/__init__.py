"""The app's place on the desktop, without Qt (both run before Qt starts): the freedesktop
desktop entry with its icons and MIME types (entry.py), and the check that Qt's xcb platform
plugin can load (platform_check.py)."""
