"""The knowledge base: entries, their history, attachments, manuals and the bot ask log."""
