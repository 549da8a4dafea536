"""Studies that combine stages (transfer: pre-train on some games, fine-tune on another); not nightly."""
