"""The editor: main window, canvas, tools, panels, undo, the document as Qt sees it, the
inpainting worker, files and autosave. Features plug into it through its hooks (features.py)."""
