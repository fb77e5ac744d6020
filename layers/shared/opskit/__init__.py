"""Generic helpers shared by every system in this repo (registry tables, text docs, business time,
stores, Slack, mail, scheduling). Nothing in here knows about expiries: keep it that way so sibling
systems can reuse it."""
