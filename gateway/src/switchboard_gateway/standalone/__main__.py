import sys

from switchboard_gateway.standalone.cli import main

sys.exit(main())
