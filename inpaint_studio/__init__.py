"""Inpaint Studio: desktop image inpainting with PEN-Net."""
__version__ = "0.1.0"
