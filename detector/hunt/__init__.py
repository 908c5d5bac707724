"""Threat-hunting helpers behind the notebooks in `notebooks/` (and usable from any Python shell).

Every question a notebook asks is answered here, so cells only call and display:

- `sources` — open the data: Parquet/JSONL outputs of `tokenhawk demo`/`detect`, or Elasticsearch
  through `detector.search` (`open_source("files", events=..., alerts=...)` / `open_source("es", ...)`).
- `triage` — one alert: its case (token timeline, incident, the principal's history), baseline
  versus observed for each reason, pivots by IP, user agent, action and namespace, related
  credentials through lineage.
- `fleet` — hunting across every credential on `detector.inventory` (its report and ranked hygiene
  findings): dormant, long-lived, shared across networks, privileged permissions in use,
  interactive use of machine identities, sprawl per namespace/account.
- `health` — the detector itself: alert scores and volume over time, the window features of a
  replay, forest anomaly scores, feature drift between the training window and later windows.
- `replay` — events through a real `Detector` (with the inventory observer, or recording every
  5-minute window exactly as the forests see it), shared by `fleet` and `health`.
- `plots` — matplotlib figures of all of the above (returned, never shown).
- `strip` — `python -m detector.hunt.strip notebooks/*.ipynb`: notebooks are committed without outputs.

Heavy imports (matplotlib) live in `plots` only; nothing here imports `pipelines`.
"""
