def piece_to_abc(piece): raise NotImplementedError
