"""Restoration analysis without Qt or torch: the scratch finder (scratches and dust on old
photos) and its evaluation on synthetic damage."""
