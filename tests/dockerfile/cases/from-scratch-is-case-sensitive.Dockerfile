FROM Scratch
