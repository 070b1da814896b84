from control_room.cli import main

raise SystemExit(main())
