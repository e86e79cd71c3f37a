import sys

from frontend_mess.cli import main

sys.exit(main())
