"""The ways visitors reach the assistant: the website chat (socket.io) and Messenger.

Each module subclasses one of Rasa's built-in connectors and changes only what the
practice needs (origin checks, signed webhooks, Messenger's limits); `credentials.yml`
names them by module path.
"""
