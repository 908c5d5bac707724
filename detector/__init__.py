"""tokenhawk's library: normalizers, identity, baselines, features, models, scoring, alerts, sinks.

It knows nothing about Kafka or the command line; `pipelines` wires it up.
"""

__version__ = "0.1.0"
