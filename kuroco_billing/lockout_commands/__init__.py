"""django-axes' reset commands, as this site keys lockouts (installed before ``axes``).

An operator types an email as a member does: it is folded as sign-in folds it
(members.lockouts); an address is checked before the database is asked.
"""
