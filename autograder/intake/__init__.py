"""Untrusted bytes in: the notebook format (reading submissions, rendering the template, restoring
locked cells), releasing an assignment to students and collecting their notebooks.
Imports only cnngrade.course."""
