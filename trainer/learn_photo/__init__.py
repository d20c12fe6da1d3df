"""Learn from this photo (`python -m trainer learn-photo`): a short fine-tune on one photo's
known area with synthetic holes, and its evaluation."""
