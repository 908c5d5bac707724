import sys
from pathlib import Path

# tests import their helpers (golden.py, service fixtures) as top-level modules
sys.path.insert(0, str(Path(__file__).parent))

# session fixtures of the real services (they never skip: a test that needs one starts it)
pytest_plugins = ["service_fixtures.elasticsearch", "service_fixtures.kafka"]
