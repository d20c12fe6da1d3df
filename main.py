"""Start the Inpaint Studio desktop app."""
from inpaint_studio.app import main

if __name__ == "__main__":
    raise SystemExit(main())
