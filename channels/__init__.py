"""The ways visitors reach the assistant: the website chat (socket.io), Messenger and REST.

Each module subclasses one of Rasa's built-in connectors and changes only what the
practice needs (origin checks, signed webhooks, Messenger's limits, checked REST
requests); `inbound` is what every one of them accepts from a visitor;
`credentials.yml` names them by module path.
"""
