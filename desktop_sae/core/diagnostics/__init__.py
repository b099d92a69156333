"""Start-up checks that run before Qt or torch is imported: Qt's system libraries, the display, the model and its
cache, the folders.
"""
