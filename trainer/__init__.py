"""Training and fine-tuning of PEN-Net on folders of photos: `python -m trainer fit|export|evaluate|bench`.

Uses the network and weight format of inpaint_studio (nothing is copied); the app starts it as a
separate process and reads its JSON-lines events (EVENTS.md).
"""
