"""python -m inpaint_studio.app: the editor (the desktop entry starts it this way)."""
from inpaint_studio.app import main

raise SystemExit(main())
