"""Pieces of the assistant shared by the Rasa server, the action server and the review app."""
