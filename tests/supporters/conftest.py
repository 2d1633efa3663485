import sys
from pathlib import Path

# Lets the tests here `import cf_world` (the crowdfunding test world) whatever pytest's
# import mode.
sys.path.insert(0, str(Path(__file__).parents[1] / "crowdfunding"))
