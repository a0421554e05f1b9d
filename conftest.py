"""Root conftest: loads the shared test plugins (used by tests/ and by the Sybil doc tests).

* tests.plugins.safety  - autouse: loopback-only AWS environment, test credentials
* tests.plugins.data    - session fixtures: generated sample archives (data_dir)
* tests.plugins.servers - session fixtures: moto S3 and Range-capable HTTP servers on 127.0.0.1
* tests.plugins.corpus  - session fixtures: real test files shipped inside the installed packages
* tests.plugins.latency - loopback_proxy: a delaying / failing TCP proxy in front of the loopback servers
* tests.plugins.docs    - Sybil collection of the ```python / ```pycon blocks in the *.md files
"""

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.plugins.safety", "tests.plugins.data", "tests.plugins.servers", "tests.plugins.corpus", "tests.plugins.latency", "tests.plugins.docs")
    if importlib.util.find_spec(name) is not None
]
