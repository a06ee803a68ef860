"""Watching the served model: drift of the logged clips against the champion's training reference, live accuracy
from feedback, the HTML report, and the cool-down that lets one drift episode start one retrain."""
