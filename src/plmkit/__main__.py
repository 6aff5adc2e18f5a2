import sys

from plmkit.cli import main

sys.exit(main())
