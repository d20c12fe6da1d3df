"""Restoration features of the editor: the scratch finder's panel (the analysis itself is
inpaint_studio.restoration)."""
