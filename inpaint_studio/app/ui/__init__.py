"""Qt building blocks every room uses: theme and icons, message banner, modal questions
(Prompter), numpy <-> QImage, the app's settings."""
