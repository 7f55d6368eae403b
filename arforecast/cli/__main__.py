import sys

from arforecast.cli.main import main

sys.exit(main())
