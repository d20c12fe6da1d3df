"""The document model without Qt: layers and flattening, masks and mask operations, the
.ora project format and recovery files. The editor shows and edits it; nothing here imports Qt."""
