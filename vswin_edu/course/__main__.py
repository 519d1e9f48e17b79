"""``python -m vswin_edu.course``: validate book.toml and print (or sync) README's course map."""

import sys

from .manifest import main

sys.exit(main())
