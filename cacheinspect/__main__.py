from cacheinspect.cli import main

main()
