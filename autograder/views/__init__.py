"""What people read: the TAs' report, the students' feedback pages, the exports for the LMS, the
student's own check before submitting, and the demo that shows every stage.
Imports the stages below it; nothing imports a view except the CLI."""
