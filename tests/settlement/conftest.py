import sys
from pathlib import Path

# Lets the tests here `import zengin_reader` whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))
