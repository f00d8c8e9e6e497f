from grainloop.cli import main

main()
