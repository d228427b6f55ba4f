import sys

from vdsm_reg.service import main

sys.exit(main())
