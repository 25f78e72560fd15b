"""The file names inside a model folder."""

WEIGHTS = "model.safetensors"
META = "model.json"
METRICS = "metrics.jsonl"  # one row per epoch
STEPS = "steps.jsonl"  # loss and learning rate every few steps
RESUME = "resume.pt"
FEATURES = "features.safetensors"  # training digits' features, for the "not sure" rule
