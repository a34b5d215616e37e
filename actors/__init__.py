"""The actors of crafting-table and the small kernel they run on.

``kernel`` holds inboxes, references (tell and ask) and the actor base
class; ``supervisor`` keeps the actors alive; one module per actor does the
work; ``serve`` wires them together with the HTTP front end.
"""
