"""Expiry Watcher domain: items, rules, voice, the chain policy and the daily path."""
