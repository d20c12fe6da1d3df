"""Features that guide or explain a fill: the source region, the attention view and learn
from this photo."""
