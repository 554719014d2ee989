"""Outgoing e-mail: composing messages and handing them to SMTP or the dev outbox."""
