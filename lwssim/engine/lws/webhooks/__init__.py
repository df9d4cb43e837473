"""The LWS admission webhooks the engine runs (the LWS object's webhook acts at load: manifests/lws.py)."""
