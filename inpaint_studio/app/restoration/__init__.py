"""Restoration features of the editor: the scratch finder's panel, the spot healing brush, the
clone stamp and the retouching layer they paint into (the analysis itself is
inpaint_studio.restoration)."""
