"""Alert notification: payload builders per destination, signing, routing (pure library code)."""
