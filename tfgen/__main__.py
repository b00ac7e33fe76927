from tfgen.cli import main

main()
