"""Music in and out: the note representation, and ABC and MIDI readers and writers."""
