"""Training from the editor: the fine-tune dialog (form, run views, curves), run folders and
jobs (the trainer runs as a separate process), and the model manager."""
